//! A call's recording in the call log: a player with a seek bar, and where in the call it is,
//! so the transcript can mark the line being heard and a line can be played from.
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, isApiError } from "../api/client";
import { useApi } from "../store";

/** A request to play from `ms` into the recording (`n` tells a repeated request apart). */
export interface Seek {
  ms: number;
  n: number;
}

export function RecordingPlayer(props: {
  callId: string;
  /** The recording's length when known (ms), to say what is coming before it loads. */
  durationMs: number | null;
  /** Told where playback is (ms into the recording), or null when stopped at the start. */
  onPosition: (ms: number | null) => void;
  seek: Seek | null;
}) {
  const api = useApi();
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const audio = useRef<HTMLAudioElement>(null);

  useEffect(() => {
    let live = true;
    let made: string | null = null;
    setUrl(null);
    setError(null);
    api.getCallRecording(props.callId).then(
      (blob) => {
        if (!live) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      },
      (e: unknown) => {
        if (live) setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
      },
    );
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [api, props.callId, attempt]);

  useEffect(() => {
    const a = audio.current;
    if (!a || !props.seek) return;
    a.currentTime = props.seek.ms / 1000;
    void a.play().catch(() => {
      // Playback the browser refuses to start is the user's to start: the seek stands.
    });
  }, [props.seek, url]);

  if (error) {
    return (
      <p class="muted" role="status">
        The recording could not be loaded: {error.message}{" "}
        <button
          type="button"
          class="btn btn-small"
          onClick={() => {
            setAttempt((n) => n + 1);
          }}
        >
          Try again
        </button>
      </p>
    );
  }
  if (!url) {
    return (
      <p class="muted" role="status">
        Loading the recording{props.durationMs !== null ? ` (${clock(props.durationMs)})` : ""}…
      </p>
    );
  }
  return (
    <div class="recording">
      <audio
        ref={audio}
        src={url}
        controls
        preload="auto"
        aria-label="Call recording"
        onTimeUpdate={(e) => {
          props.onPosition(e.currentTarget.currentTime * 1000);
        }}
        onSeeked={(e) => {
          props.onPosition(e.currentTarget.currentTime * 1000);
        }}
        onEnded={() => {
          props.onPosition(null);
        }}
      />
      <p class="muted recording-note">Caller on the left, agent on the right. Click a line's time to play from it.</p>
    </div>
  );
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
