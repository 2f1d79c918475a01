import { inputs } from "./io.mjs";

console.error(`error: ${inputs().message}`);
process.exit(3);
