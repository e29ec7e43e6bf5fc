//! Listening to a live call in this browser: the engine's `/api/calls/{id}/audio` WebSocket
//! (20 ms messages of 16-bit little-endian mono PCM at 8 kHz) played with Web Audio. Frames are
//! scheduled back to back a little ahead of the clock, so network jitter up to that lead is
//! absorbed; a frame that arrives after its slot restarts the lead instead of piling up delay.

/** The engine's stream: 8 kHz mono, 160 samples a message. */
const RATE = 8000;
/** How far ahead of the audio clock frames are scheduled: the jitter it absorbs. */
const LEAD_S = 0.12;
/** Scheduled audio beyond this is dropped (a burst after a stall), to keep the delay bounded. */
const MAX_AHEAD_S = 0.5;

export interface CallAudio {
  setVolume(volume: number): void;
  /** Level of the last 100 ms or so, 0 (silence) to 1 (full scale), for a meter. */
  level(): number;
  stop(): void;
}

/** Plays the call at `url`. `onEnd` is called once, with a reason when it was not `stop`. */
export function playCallAudio(url: string, volume: number, onEnd: (why: string | null) => void): CallAudio {
  const Ctx = window.AudioContext;
  const ctx = new Ctx({ sampleRate: RATE, latencyHint: "interactive" });
  const gain = ctx.createGain();
  gain.gain.value = volume;
  gain.connect(ctx.destination);
  let next = 0;
  let level = 0;
  let ended = false;
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const end = (why: string | null) => {
    if (ended) return;
    ended = true;
    socket.close();
    void ctx.close();
    onEnd(why);
  };
  socket.onmessage = (m: MessageEvent) => {
    if (!(m.data instanceof ArrayBuffer)) return;
    const pcm = new Int16Array(m.data);
    const buffer = ctx.createBuffer(1, pcm.length, RATE);
    const out = buffer.getChannelData(0);
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) {
      const x = (pcm[i] ?? 0) / 32768;
      out[i] = x;
      sum += x * x;
    }
    // A running RMS: quick to rise and to fall, like a channel meter.
    level = 0.8 * level + 0.2 * Math.sqrt(sum / Math.max(1, pcm.length));
    const now = ctx.currentTime;
    if (next < now) next = now + LEAD_S;
    if (next - now > MAX_AHEAD_S) return;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(gain);
    source.start(next);
    next += buffer.duration;
  };
  socket.onclose = (e: CloseEvent) => {
    // The engine closes normally when the call ends; anything else is a lost connection.
    end(e.code === 1000 || e.code === 1005 ? null : `the connection was lost (${String(e.code)})`);
  };
  socket.onerror = () => {
    end("the call's audio could not be reached");
  };
  // Browsers start an AudioContext suspended until a user gesture; this runs from one.
  void ctx.resume();
  return {
    setVolume(v: number) {
      gain.gain.value = v;
    },
    level: () => level,
    stop: () => {
      end(null);
    },
  };
}
