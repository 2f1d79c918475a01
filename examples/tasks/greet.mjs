import { inputs, writeOutputs } from "./io.mjs";

const { name, times } = inputs();
const greeting = Array(Number(times)).fill(`Hello, ${name}!`).join(" ");
console.log(greeting);
writeOutputs({ greeting });
