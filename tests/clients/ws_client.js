// Connect with node's `ws` client and print one JSON line per event.
//
// Usage: node ws_client.js URL [SUBPROTOCOL ...] [--send MESSAGE ...]
//
// Events: {"event": "open", "protocol": ...}, {"event": "message", "data": ...},
// {"event": "close", "code": ..., "reason": ...},
// {"event": "unexpected-response", "status": ..., "headers": ..., "body": ...},
// {"event": "error", "message": ...}, {"event": "timeout"}.
// Once open, it sends each --send message, then waits for the server to close;
// it exits when the connection is closed or failed, or after TIMEOUT_MS.
"use strict";

const WebSocket = require("ws");

const TIMEOUT_MS = Number(process.env.WS_CLIENT_TIMEOUT_MS || 10000);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function parseArguments(argv) {
  const [url, ...rest] = argv;
  const subprotocols = [];
  const messages = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--send") {
      messages.push(rest[++i]);
    } else {
      subprotocols.push(rest[i]);
    }
  }
  return { url, subprotocols, messages };
}

function main() {
  const { url, subprotocols, messages } = parseArguments(process.argv.slice(2));
  if (!url) {
    process.stderr.write("usage: node ws_client.js URL [SUBPROTOCOL ...] [--send MESSAGE ...]\n");
    process.exit(2);
  }
  const timer = setTimeout(() => {
    emit({ event: "timeout" });
    process.exit(3);
  }, TIMEOUT_MS);
  const finish = () => {
    clearTimeout(timer);
    // Let stdout drain before exiting.
    process.stdout.write("", () => process.exit(0));
  };

  const ws = new WebSocket(url, subprotocols, { followRedirects: process.env.WS_CLIENT_FOLLOW_REDIRECTS === "1" });
  ws.on("open", () => {
    emit({ event: "open", protocol: ws.protocol });
    for (const message of messages) ws.send(message);
  });
  ws.on("message", (data, isBinary) => {
    emit({ event: "message", data: isBinary ? data.toString("base64") : data.toString(), binary: isBinary });
  });
  ws.on("close", (code, reason) => {
    emit({ event: "close", code, reason: reason.toString() });
    finish();
  });
  ws.on("error", (error) => {
    emit({ event: "error", message: error.message });
  });
  ws.on("unexpected-response", (request, response) => {
    const chunks = [];
    response.on("data", (chunk) => chunks.push(chunk));
    response.on("end", () => {
      emit({
        event: "unexpected-response",
        status: response.statusCode,
        headers: response.headers,
        body: Buffer.concat(chunks).toString(),
      });
      request.destroy();
      finish();
    });
  });
}

main();
