import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** A webhook endpoint's answer that is not a 2xx, or no answer in time. */
export class WebhookError extends Error {}

/**
 * POSTs to meter owners' endpoints over kept-alive connections. The operator posts one notification
 * per share it evaluates; with `fetch`, each post cost about 1 ms of the receiver's main thread
 * (Request and stream objects, an AbortSignal, header validation): a fifth of its time under the
 * soak's load. A plain request on a pooled socket costs a fraction of that.
 */
export class WebhookClient {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(
    maxSocketsPerHost: number,
    private readonly timeoutMs: number,
  ) {
    this.http = new HttpAgent({ keepAlive: true, maxSockets: maxSocketsPerHost });
    this.https = new HttpsAgent({ keepAlive: true, maxSockets: maxSocketsPerHost });
  }

  /**
   * Resolves with the status of a 2xx answer; rejects with WebhookError otherwise. A redirect is not
   * followed (fetch followed them): an owner's endpoint must not send the receiver's signed posts on
   * to another address, inside the operator's network for instance.
   */
  post(url: string, headers: Record<string, string>, body: string): Promise<number> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:') {
      return Promise.reject(new WebhookError(`${url} is not an http(s) URL`));
    }
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const request = send(
        target,
        {
          method: 'POST',
          agent: secure ? this.https : this.http,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (response: IncomingMessage) => {
          // The body is not used, but it must be read for the socket to go back to the pool.
          response.resume();
          response.on('end', () => {
            clearTimeout(deadline);
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(status);
            } else {
              reject(new WebhookError(`${url} answered ${status}`));
            }
          });
          response.on('error', (error) => {
            clearTimeout(deadline);
            reject(new WebhookError(`${url}: ${error.message}`));
          });
        },
      );
      const deadline = setTimeout(
        () => request.destroy(new WebhookError(`${url} did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      request.on('error', (error) => {
        clearTimeout(deadline);
        reject(error instanceof WebhookError ? error : new WebhookError(`${url}: ${error.message}`));
      });
      request.end(body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
