import { inputs, writeOutputs } from "./io.mjs";

const seconds = Number(inputs().seconds);
console.log(`working for ${seconds}s (abort me)`);
process.on("SIGTERM", () => {
  console.log("SIGTERM: stopping");
  process.exit(143);
});
setTimeout(() => writeOutputs({ slept: seconds }), seconds * 1000);
