import { type FormEvent, useState } from 'react';

/** Asks for an admin key; the node's reason for the last refusal, if any, stands above the form. */
export function Login({
  reason,
  busy,
  onSubmit,
}: {
  reason: string | undefined;
  busy: boolean;
  onSubmit: (key: string) => void;
}) {
  const [key, setKey] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim()) {
      onSubmit(key.trim());
    }
  };
  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">CBSG ops console</h1>
        <p className="muted">
          Sign in with an admin API key of this node (<code>npm run cbsg -- admin-key create</code>; the
          devnet prints one). It stays in this tab only.
        </p>
        {reason && (
          <p className="login-refused" role="alert" data-testid="login-reason">
            {reason}
          </p>
        )}
        <label htmlFor="admin-key">Admin key</label>
        <input
          id="admin-key"
          name="admin-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="cbsg_admin_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          autoFocus
        />
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
