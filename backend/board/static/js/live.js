// The live feed over /ws: authenticate in the first message, keep the id of the last event seen,
// and after any drop reconnect with backoff sending that id, so the server replays what was missed.

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 8000; // no answer to a ping: the line is dead even if the browser has not noticed
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const SEEN_MEMORY = 5000;

export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;

export class LiveFeed {
  /**
   * getToken(): the current access token. onEvent(frame, replayed): an event; replayed is true
   * for the catch-up sent before `ready`. onReady(info): caught up. onState(state, since):
   * "connecting" | "connected" | "reconnecting" | "offline". onAuthLost(): log in again.
   */
  constructor({ getToken, onEvent, onReady = () => {}, onState = () => {}, onAuthLost = () => {} }) {
    this.getToken = getToken;
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onState = onState;
    this.onAuthLost = onAuthLost;
    this.lastEventId = null;
    this.state = "offline";
    this.stats = { connects: 0, replayed: 0, live: 0 };
    this._socket = null;
    this._stopped = true;
    this._backoff = BACKOFF_FIRST_MS;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._wasConnected = false;
    this._caughtUp = false;
    this._seen = new Set();
    this._seenOrder = [];
  }

  start() {
    this._stopped = false;
    this._connect();
  }

  stop() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    this._teardown();
    this._setState("offline");
  }

  /** A renewed token goes over the open socket; the server checks it and keeps the conversation. */
  renew(token) {
    if (this._socket && this._socket.readyState === WebSocket.OPEN) {
      this._socket.send(JSON.stringify({ type: "auth", token, last_event_id: this.lastEventId }));
    }
  }

  /** Drop the connection as a network failure would (used by the browser tests and the console). */
  drop() {
    if (this._socket) this._socket.close();
  }

  _connect() {
    if (this._stopped) return;
    this._setState(this._wasConnected ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this._socket = socket;
    this._caughtUp = false;
    socket.addEventListener("open", () => {
      // bundle: several events may come in one frame ({"type": "events"}), far fewer frames on a busy night.
      socket.send(
        JSON.stringify({ type: "auth", token: this.getToken(), last_event_id: this.lastEventId, bundle: true }),
      );
    });
    socket.addEventListener("message", (message) => this._received(socket, message));
    socket.addEventListener("close", (closing) => this._closed(socket, closing.code));
    socket.addEventListener("error", () => {
      // A "close" always follows; reconnecting is decided there.
    });
  }

  _event(frame) {
    // Each event once: a replay after a reconnect may overlap what arrived live just before.
    // (Ids are not compared: one may commit, and arrive, after a higher one.)
    if (this._seen.has(frame.id)) return;
    this._remember(frame.id);
    this.lastEventId = Math.max(this.lastEventId ?? 0, frame.id);
    if (this._caughtUp) this.stats.live += 1;
    else this.stats.replayed += 1;
    this.onEvent(frame, !this._caughtUp);
  }

  _received(socket, message) {
    if (socket !== this._socket) return;
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    clearTimeout(this._pongTimer); // any frame proves the line is alive
    if (frame.type === "event") {
      this._event(frame);
    } else if (frame.type === "events") {
      for (const event of frame.events) this._event(event);
    } else if (frame.type === "ready") {
      const reconnected = this._wasConnected;
      this.lastEventId = Math.max(this.lastEventId ?? 0, frame.last_event_id);
      this._caughtUp = true;
      this._wasConnected = true;
      this._backoff = BACKOFF_FIRST_MS;
      this.stats.connects += 1;
      this._setState("connected");
      this._startPinging(socket);
      // complete: false — the server cut the replay (a long absence): what is shown must be read again.
      this.onReady({ reconnected, complete: frame.complete !== false });
    }
  }

  _closed(socket, code) {
    if (socket !== this._socket) return;
    this._teardown();
    if (this._stopped) return;
    if (code === CLOSE_UNAUTHENTICATED || code === CLOSE_FORBIDDEN) {
      this._stopped = true;
      this._setState("offline");
      this.onAuthLost(code);
      return;
    }
    // 1012 (server restarting), 1013 (too slow), a lost network: all reconnect and catch up.
    this._setState(this._wasConnected ? "reconnecting" : "offline");
    const jitter = Math.random() * 0.3 * this._backoff;
    this._retryTimer = setTimeout(() => this._connect(), this._backoff + jitter);
    this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
  }

  _remember(id) {
    this._seen.add(id);
    this._seenOrder.push(id);
    if (this._seenOrder.length > SEEN_MEMORY) this._seen.delete(this._seenOrder.shift());
  }

  _startPinging(socket) {
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send('{"type":"ping"}');
      clearTimeout(this._pongTimer);
      this._pongTimer = setTimeout(() => socket.close(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  _teardown() {
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
    const socket = this._socket;
    this._socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.since = new Date();
    this.onState(state, this.since);
  }
}
