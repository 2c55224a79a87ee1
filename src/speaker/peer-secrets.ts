/**
 * The TCP MD5 passwords of the BGPPeers, each read from the peer's Secret (key "password") and then
 * followed by a watch on that one Secret (field selector metadata.name, which the speaker's RBAC allows
 * for the Secrets it names): a rotated password reaches the session at once, without a change to the
 * BGPPeer. A Secret no peer names any more is no longer watched.
 *
 * A Secret that goes away or becomes unreadable after a password was read does not tear a working session
 * down: the password read last is kept, and the peer's row says why. Only a peer whose password was never
 * read gets no session.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { Informer } from '../k8s/informer.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';

export type PasswordLookup =
  | { password: string; warning?: string }
  | { error: string }
  /** Being read for the first time; `onChange` fires when it has been. */
  | { pending: true };

interface Followed {
  namespace: string;
  name: string;
  abort: AbortController;
  loaded: boolean;
  password: string | undefined;
  /** Why the Secret gives no password now. */
  error: string | undefined;
}

export interface PeerSecretsOptions {
  rest: KubeRest;
  log: Logger;
  /** A password or the reason there is none changed. */
  onChange(): void;
}

export class PeerSecrets {
  private readonly opts: PeerSecretsOptions;
  private readonly followed = new Map<string, Followed>();

  constructor(opts: PeerSecretsOptions) {
    this.opts = opts;
  }

  /** The password in Secret `namespace/name`; the Secret is followed from the first call on. */
  lookup(namespace: string, name: string): PasswordLookup {
    const key = `${namespace}/${name}`;
    let f = this.followed.get(key);
    if (!f) {
      f = {
        namespace,
        name,
        abort: new AbortController(),
        loaded: false,
        password: undefined,
        error: undefined,
      };
      this.followed.set(key, f);
      void this.follow(f);
    }
    if (!f.loaded) return { pending: true };
    if (f.error === undefined && f.password !== undefined) return { password: f.password };
    const error = `password Secret ${key}: ${f.error ?? 'no password'}`;
    if (f.password !== undefined)
      return { password: f.password, warning: `${error}; the session keeps the password read before` };
    return { error };
  }

  /** Stops following the Secrets not in `keys` ("namespace/name"). */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, f] of this.followed) {
      if (keys.has(key)) continue;
      f.abort.abort();
      this.followed.delete(key);
    }
  }

  stop(): void {
    this.retain(new Set());
  }

  /** One read for an answer (or the exact error) at once, then a watch for every later change. */
  private async follow(f: Followed): Promise<void> {
    const path = `/api/v1/namespaces/${encodeURIComponent(f.namespace)}/secrets/${encodeURIComponent(f.name)}`;
    try {
      this.take(f, await this.opts.rest.get<V1Secret>(path, { signal: f.abort.signal }));
    } catch (err) {
      if (f.abort.signal.aborted) return;
      this.fail(
        f,
        err instanceof ApiError && err.status === 404
          ? 'not found'
          : err instanceof ApiError && err.status === 403
            ? `cannot be read (${err.message}): the speaker may read only the Secrets its Role names (Helm value speaker.peerPasswordSecrets)`
            : `cannot be read: ${(err as Error).message}`,
      );
    }
    f.loaded = true;
    this.opts.onChange();
    const informer = new Informer<V1Secret>(
      this.opts.rest,
      { group: '', version: 'v1', plural: 'secrets' },
      this.opts.log,
      { namespace: f.namespace, fieldSelector: `metadata.name=${f.name}` },
    );
    informer.on('add', (s) => this.changed(f, () => this.take(f, s)));
    informer.on('update', (s) => this.changed(f, () => this.take(f, s)));
    informer.on('delete', () => this.changed(f, () => this.fail(f, 'deleted')));
    await informer.start(f.abort.signal);
  }

  private take(f: Followed, secret: V1Secret): void {
    const encoded = secret.data?.password;
    if (!encoded) {
      this.fail(f, 'it has no "password" key');
      return;
    }
    const password = Buffer.from(encoded, 'base64').toString('utf8');
    if (f.password !== undefined && password !== f.password)
      this.opts.log.info(
        { secret: `${f.namespace}/${f.name}` },
        'BGP password rotated: the sessions using it start again with the new one',
      );
    f.password = password;
    f.error = undefined;
  }

  private fail(f: Followed, error: string): void {
    f.error = error;
  }

  /** Applies a change seen by the watch and tells the speaker when it matters. */
  private changed(f: Followed, apply: () => void): void {
    if (f.abort.signal.aborted) return;
    const before = JSON.stringify([f.password, f.error]);
    apply();
    if (JSON.stringify([f.password, f.error]) !== before) this.opts.onChange();
  }
}
