// Asks for the server's bearer token once, when the API first answers 401.
import { useEffect, useRef, useState, type FormEvent } from "react";

export function TokenDialog({ reason, onDone }: { reason: string; onDone: (token: string | null) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [token, setToken] = useState("");
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal?.();
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onDone(token.trim() || null);
  };
  return (
    <dialog ref={dialog} className="token-dialog" aria-labelledby="token-title" onCancel={() => onDone(null)}>
      <form onSubmit={submit}>
        <h2 id="token-title">Server token</h2>
        <p>{reason} It is kept for this browser session only.</p>
        <label htmlFor="token-input">Bearer token</label>
        <input id="token-input" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} autoFocus />
        <div className="actions">
          <button type="button" onClick={() => onDone(null)}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Use token
          </button>
        </div>
      </form>
    </dialog>
  );
}
