// Re-evaluate recorded JSONata evaluations with the reference implementation (npm `jsonata`, the
// version AWS Step Functions documents: 2.0.6). Reads JSONL on stdin, one
// {"id", "expression", "bindings", "input", "millis"} per line; writes JSONL on stdout, one
// {"id", "result"} or {"id", "undefined": true} or {"id", "error": {"code", "message"}} per line.
//
// The clock is frozen at the recorded "millis" for each evaluation: jsonata reads `new Date()` once
// when an evaluation starts and $millis() / $now() return that instant, so freezing `Date` replays
// exactly the time the other engine was given.
"use strict";

const readline = require("readline");
const jsonata = require("jsonata");

const RealDate = Date;
let frozen = RealDate.now();
class FrozenDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) {
      super(frozen);
    } else {
      super(...args);
    }
  }
  static now() {
    return frozen;
  }
}
global.Date = FrozenDate;

async function evaluate(record) {
  frozen = record.millis;
  try {
    const expression = jsonata(record.expression);
    const input = record.input === undefined ? undefined : record.input;
    const result = await expression.evaluate(input, record.bindings || undefined);
    if (result === undefined) {
      return { id: record.id, undefined: true };
    }
    // JSON round trip: drops undefined object members and sequence flags, as Step Functions' JSON does.
    return { id: record.id, result: JSON.parse(JSON.stringify(result)) };
  } catch (err) {
    return { id: record.id, error: { code: err.code || null, message: err.message || String(err) } };
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const record = JSON.parse(line);
    process.stdout.write(JSON.stringify(await evaluate(record)) + "\n");
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
