#!/usr/bin/env bash
# A private, headless PulseAudio for the local-audio tests: a speaker and a microphone with no
# sound card. Never touches another sound server on the machine (own runtime dir and socket,
# stopped by its own pid).
#
#   eval "$(scripts/audio-rig.sh start [DIR])"   # prints `export PULSE_SERVER=...` lines
#   scripts/audio-rig.sh echo-on | echo-off     # speaker -> microphone loopback (AEC tests)
#   scripts/audio-rig.sh stop [DIR]
#
# Devices: null sink `spk` (the speaker; record `spk.monitor` to hear what was played), null
# sink `micin` (play into it to "speak"), remap source `mic` over `micin.monitor` (the
# microphone). Defaults are `spk` and `mic`, so ALSA's `default` (cpal's default host, through
# libasound2-plugins' pulse plugin) plays into `spk` and records from `mic`.
# DIR defaults to $AUDIO_RIG_DIR or /tmp/switchboard-audio-rig; `start` also writes the
# exports to DIR/env. Every command is idempotent.
set -euo pipefail

cmd=${1:-}
dir=${2:-${AUDIO_RIG_DIR:-/tmp/switchboard-audio-rig}}
run="$dir/run"
socket="$dir/native"
export PULSE_RUNTIME_PATH="$run" PULSE_SERVER="unix:$socket"
# Never autospawn a daemon elsewhere when ours is down.
export PULSE_CLIENTCONFIG="$dir/client.conf"

running() { [[ -f "$run/pid" ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null && pactl info >/dev/null 2>&1; }

exports() {
  cat <<ENV
export PULSE_SERVER=unix:$socket
export PULSE_RUNTIME_PATH=$run
export PULSE_CLIENTCONFIG=$dir/client.conf
ENV
}

loopback_index() { pactl list short modules | awk '$2 == "module-loopback" && /source=spk.monitor/ { print $1 }'; }

case "$cmd" in
start)
  mkdir -p "$run" "$dir/home"
  echo "autospawn = no" >"$dir/client.conf"
  if ! running; then
    rm -f "$socket"
    # -n: no default.pa (no hardware probing); anonymous auth on an explicit socket.
    HOME="$dir/home" pulseaudio -D --exit-idle-time=-1 --disallow-exit -n \
      --load="module-native-protocol-unix auth-anonymous=1 socket=$socket" \
      --log-target="file:$dir/pulse.log" 2>/dev/null
    for _ in $(seq 50); do running && break; sleep 0.1; done
    running || { echo "audio-rig: PulseAudio did not start; see $dir/pulse.log" >&2; exit 1; }
  fi
  sinks=$(pactl list short sinks); sources=$(pactl list short sources)
  grep -qw spk <<<"$sinks" || pactl load-module module-null-sink sink_name=spk \
    sink_properties=device.description=Speaker >/dev/null
  grep -qw micin <<<"$sinks" || pactl load-module module-null-sink sink_name=micin \
    sink_properties=device.description=MicIn >/dev/null
  grep -qP '^\d+\tmic\t' <<<"$sources" || pactl load-module module-remap-source source_name=mic \
    master=micin.monitor source_properties=device.description=Microphone >/dev/null
  pactl set-default-sink spk
  pactl set-default-source mic
  exports >"$dir/env"
  exports
  ;;
stop)
  if [[ -f "$run/pid" ]]; then
    pid=$(cat "$run/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$run/pid" "$socket"
  ;;
echo-on)
  running || { echo "audio-rig: not running; run scripts/audio-rig.sh start first" >&2; exit 1; }
  [[ -n "$(loopback_index)" ]] || pactl load-module module-loopback source=spk.monitor sink=micin \
    latency_msec=20 source_dont_move=true sink_dont_move=true >/dev/null
  ;;
echo-off)
  running || exit 0
  for i in $(loopback_index); do pactl unload-module "$i"; done
  ;;
*)
  echo "usage: $0 start|stop|echo-on|echo-off [DIR]" >&2
  exit 2
  ;;
esac
