//! Short confirmations ("Agent deleted") announced to screen readers and shown for a moment.
import { useEffect, useState } from "preact/hooks";

interface Toast {
  id: number;
  text: string;
}

let toasts: Toast[] = [];
let next = 1;
const listeners = new Set<() => void>();

function emit(): void {
  for (const l of listeners) l();
}

export function showToast(text: string): void {
  const t = { id: next++, text };
  toasts = [...toasts, t].slice(-3);
  emit();
  window.setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    emit();
  }, 3500);
}

export function Toasts() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => {
      setTick((n) => n + 1);
    };
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div class="toast" key={t.id}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
