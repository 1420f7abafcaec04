/** A meter as the followed node lists it (GET /meters/:id), the parts a receiver uses. */
export interface NodeMeter {
  dimensions: string[];
  publicKey: string;
  location: string | null;
  owner: { notifyUrl: string };
}

/**
 * The node's meters, each fetched once and kept: what a registration says (dimensions, key, owner,
 * location) never changes for a meter. Unknown meters and failures are not kept: asked again later.
 */
export class NodeMeters {
  private readonly known = new Map<string, NodeMeter>();

  constructor(
    private readonly nodeUrl: string,
    /** The organisation's credentials: the node shows a meter's owner and location to members only. */
    private readonly authorization: () => string,
  ) {}

  /** The meter, or undefined when the node has none by that id; throws when the node cannot say. */
  async get(meterId: string): Promise<NodeMeter | undefined> {
    const known = this.known.get(meterId);
    if (known) {
      return known;
    }
    const response = await fetch(`${this.nodeUrl}/meters/${encodeURIComponent(meterId)}`, {
      headers: { authorization: this.authorization() },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status === 404) {
      return undefined;
    }
    if (!response.ok) {
      throw new Error(`the node answered ${response.status} for meter ${meterId}`);
    }
    const meter = (await response.json()) as NodeMeter;
    this.known.set(meterId, meter);
    return meter;
  }
}
