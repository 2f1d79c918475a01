// Adds two integers exactly (BigInt), however large: JSON.parse would round them, so the
// inputs are read from the JSON text (the server writes it compact, integers as digits).
import { inputsText, writeOutputsText } from "./io.mjs";

const text = inputsText();
const get = (k) => BigInt(text.match(new RegExp(`"${k}":(-?\\d+)`))[1]);
const sum = get("a") + get("b");
console.log(`sum = ${sum}`);
writeOutputsText(`{"sum":${sum}}`);
