// Helpers for example tasks: read the inputs, write the outputs.
import { readFileSync, writeFileSync } from "node:fs";

export function inputsText() {
  return readFileSync(process.env.FLYTE_WEBHOOK_INPUTS, "utf8");
}

export function inputs() {
  return JSON.parse(inputsText());
}

// writeOutputs takes the JSON text itself, so integers beyond 2^53 stay exact.
export function writeOutputsText(json) {
  writeFileSync(process.env.FLYTE_WEBHOOK_OUTPUTS, json);
}

export function writeOutputs(obj) {
  writeOutputsText(JSON.stringify(obj));
}
