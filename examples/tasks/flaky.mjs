// Fails on its first attempt and succeeds on the next (the task has retries: 2).
import { writeOutputs } from "./io.mjs";

const attempt = Number(process.env.FLYTE_WEBHOOK_ATTEMPT);
if (attempt < 2) {
  console.error(`attempt ${attempt}: failing on purpose`);
  process.exit(1);
}
writeOutputs({ attempt });
