// Parse an AsyncAPI document with the official @asyncapi/parser and print
// its diagnostics as one JSON array on stdout.
//
// Usage: node asyncapi_parse.js FILE
//
// Each diagnostic is {"severity": ..., "code": ..., "message": ..., "path": [...]};
// severity 0 is an error, 1 a warning, 2 information, 3 a hint. The documents
// it checks hold local references only ("#/..."), so it needs no network.
// Exits 0 once the diagnostics are printed (errors or not), 2 when the file
// cannot be read or the parser itself fails.
"use strict";

const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write("usage: node asyncapi_parse.js FILE\n");
    return 2;
  }
  const text = fs.readFileSync(argv[0], "utf8");
  const parser = new Parser();
  const { diagnostics } = await parser.parse(text, { source: argv[0] });
  const simple = diagnostics.map((diagnostic) => ({
    severity: diagnostic.severity,
    code: String(diagnostic.code),
    message: diagnostic.message,
    path: diagnostic.path,
  }));
  process.stdout.write(JSON.stringify(simple) + "\n");
  return 0;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    process.stderr.write(`error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 2;
  },
);
