// The chat page: join a room, say things, see who is here, reconnect.
//
// All text from users goes in with textContent: none is parsed as HTML. The list of
// members comes from the hub's presence (see websockets_routes/demo/app.py):
// "welcome" lists who is here, presence events add and remove members. Messages
// come with ids; a reconnection asks for what it missed with ?since=<last id>.
"use strict";

const MAX_NAME = 32;
const MAX_TEXT = 500;
// Reconnecting waits 0.5 s, doubling up to 5 s, each time 75 % to 125 % of it.
const FIRST_DELAY = 500;
const MAX_DELAY = 5000;

const $ = (id) => document.getElementById(id);
const state = {
  ws: null, name: "", room: "", sid: null, members: new Map(),
  attempts: 0, timer: null, nextId: 1, announced: false, lastId: null,
};

function checkName(what, value) {
  if (!value.trim()) return `${what} must not be blank`;
  if ([...value].length > MAX_NAME) return `${what} must be at most ${MAX_NAME} characters`;
  // As Python's str.isprintable(): no control, format or separator character but space.
  if (/[\p{C}\p{Z}]/u.test(value.replaceAll(" ", ""))) return `${what} must be printable characters`;
  return null;
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = kind;
}

function show(parts, className) {
  const item = document.createElement("li");
  if (className) item.className = className;
  for (const part of parts) item.append(part);
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function notice(text) {
  show([text], "notice");
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

function showSaid(message) {
  const at = new Date(message.at);
  const time = element("time", Number.isNaN(at.getTime()) ? "" :
    at.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}));
  time.dateTime = String(message.at);
  const mine = message.sid === state.sid;
  show([time, element("span", String(message.name), "who"), ": ", String(message.text)],
       mine ? "mine" : "");
}

function renderMembers() {
  const list = $("members");
  const entries = [...state.members].sort((a, b) => a[1].localeCompare(b[1]));
  list.replaceChildren(...entries.map(([sid, name]) =>
    element("li", sid === state.sid ? `${name} (you)` : name)));
  $("count").textContent = state.members.size ? `(${state.members.size})` : "";
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(message));
  }
}

const handlers = {
  welcome(message) {
    state.sid = message.sid;
    state.members.clear();
    for (const member of message.members || []) {
      state.members.set(String(member.sid), String(member.name));
    }
    state.members.set(message.sid, String(message.name));
    renderMembers();
  },
  presence(message) {
    const sid = String(message.user);
    const name = String((message.meta && message.meta.name) || "");
    if (message.event === "join") {
      state.members.set(sid, name);
      // Joins that come before "welcome" are this page's own and its peers'.
      if (state.sid !== null && sid !== state.sid) notice(`${name} joined`);
    } else if (message.event === "leave") {
      state.members.delete(sid);
      notice(`${name} left`);
    }
    renderMembers();
  },
  message(message) {
    // A message of the room's history: remember its id to resume after it.
    state.lastId = String(message.id);
    let said;
    try {
      said = JSON.parse(message.data);
    } catch {
      return;
    }
    if (said && said.type === "said") showSaid(said);
  },
  history_gap() {
    // Messages were lost while away: show what the room still keeps, afresh.
    $("messages").replaceChildren();
    notice("some messages were missed");
  },
  error(message) {
    notice(`error: ${message.message}`);
  },
};

function receive(event) {
  if (typeof event.data !== "string") {
    notice(`binary frame of ${event.data.size} bytes, not shown`);
    return;
  }
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    notice("a message that is not JSON, not shown");
    return;
  }
  const handler = message && Object.hasOwn(handlers, message.type) ? handlers[message.type] : null;
  if (handler) handler(message);
}

function connect() {
  clearTimeout(state.timer);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // location.host keeps the brackets of an IPv6 address: [::1]:8765.
  const since = state.lastId === null ? "" : `&since=${encodeURIComponent(state.lastId)}`;
  const url = `${scheme}//${location.host}/rooms/${encodeURIComponent(state.room)}` +
    `?name=${encodeURIComponent(state.name)}${since}`;
  const ws = new WebSocket(url);
  state.ws = ws;
  state.sid = null;
  state.members.clear();
  renderMembers();
  setStatus(state.attempts ? "Reconnecting…" : "Connecting…", "connecting");
  ws.onopen = () => {
    state.attempts = 0;
    state.announced = false;
    setStatus(`Connected as ${state.name}.`, "connected");
    $("text").disabled = $("send").disabled = false;
  };
  ws.onmessage = receive;
  ws.onclose = (event) => {
    if (state.ws !== ws) return;  // replaced by a connection to another room
    $("text").disabled = $("send").disabled = true;
    state.members.clear();
    renderMembers();
    if (event.code !== 1000 && event.code !== 1001 && event.code !== 1006) {
      notice(`connection closed: ${event.code} ${event.reason}`.trim());
    }
    if (!state.announced) {
      notice("disconnected");
      state.announced = true;
    }
    const base = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** state.attempts);
    const delay = base * (0.75 + Math.random() / 2);
    state.attempts += 1;
    setStatus(`Disconnected, reconnecting in ${(delay / 1000).toFixed(1)} s…`, "reconnecting");
    state.timer = setTimeout(connect, delay);
  };
}

function join(name, room) {
  const error = checkName("name", name) || checkName("room", room);
  if (error) {
    setStatus(error, "error");
    return;
  }
  const old = state.ws;
  state.ws = null;
  if (old) old.close(1000);
  Object.assign(state, {name, room, attempts: 0, announced: false, lastId: null});
  $("room-title").textContent = room;
  $("messages").replaceChildren();
  const query = new URLSearchParams({room, name});
  history.replaceState(null, "", `${location.pathname}?${query}`);
  connect();
}

function start() {
  const params = new URLSearchParams(location.search);
  const name = params.get("name") || "";
  const room = params.get("room") || "";
  $("name").value = name;
  $("room").value = room || "lobby";
  $("join").addEventListener("submit", (event) => {
    event.preventDefault();
    join($("name").value, $("room").value);
  });
  $("say").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("text");
    const text = input.value;
    if (!text.trim()) return;
    if ([...text].length > MAX_TEXT) {
      notice(`messages are at most ${MAX_TEXT} characters`);
      return;
    }
    send({type: "say", id: state.nextId++, text});
    input.value = "";
  });
  // A link with both a name and a room joins at once.
  if (name && room) join(name, room);
  else $(name ? "room" : "name").focus();
}

start();
