import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';

import { Access, type AuthenticatedRequest, Public } from '@app/auth';

import { toHex } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { PrismaService } from '@app/persistence';
import { ChainService, type TransactionReceipt } from '@app/chain';
import { GenesisService } from '@app/registry';

const TRANSACTION_SCHEMA = {
  type: 'object',
  required: ['version', 'chainId', 'kind', 'sender', 'timestamp', 'body', 'signature'],
  properties: {
    version: { type: 'integer', enum: [1] },
    chainId: { type: 'string' },
    kind: { type: 'string', example: 'meter.register' },
    sender: { type: 'string', description: 'the signing organisation' },
    timestamp: { type: 'integer', description: 'epoch milliseconds' },
    body: {
      type: 'object',
      description: 'kind-specific; see libs/registry/src/domain/transaction-bodies.ts',
    },
    signature: { type: 'string', description: 'BLS signature (96 bytes, hex) by the sender organisation' },
  },
  additionalProperties: false,
};

@ApiTags('registry')
@ApiBearerAuth()
@Access('organisation', 'admin')
@Controller()
export class RegistryController {
  constructor(
    private readonly chain: ChainService,
    private readonly prisma: PrismaService,
    private readonly genesis: GenesisService,
  ) {}

  @Post('transactions')
  @Public()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      'Submit a signed registry transaction (meters, receivers, delegates, partial keys, revocations).',
  })
  @ApiBody({ schema: TRANSACTION_SCHEMA })
  submit(@Body() body: unknown): Promise<TransactionReceipt> {
    return this.chain.submitTransaction(Transaction.fromJSON(body));
  }

  @Get('genesis')
  @Public()
  @ApiOperation({ summary: 'The genesis document of this chain and its hash.' })
  genesisDocument() {
    const { document, hash } = this.genesis.current();
    return { hash: toHex(hash), document };
  }

  @Get('organisations')
  @Public()
  @ApiOperation({ summary: 'Member organisations and their roles.' })
  async organisations() {
    const rows = await this.prisma.organisation.findMany({ orderBy: { id: 'asc' } });
    return rows.map((o) => ({
      id: o.id,
      name: o.name,
      roles: o.roles,
      publicKey: toHex(o.publicKey),
      stake: o.stake.toString(),
    }));
  }

  @Get('meters/:id')
  @ApiParam({ name: 'id', description: 'meter identity' })
  @ApiOperation({
    summary:
      "A meter: keys, sharing policy, status (its owner's contact and location to organisations and admins only).",
  })
  @Public()
  async meter(@Param('id') id: string, @Req() request: AuthenticatedRequest) {
    const m = await this.prisma.meter.findUnique({ where: { id } });
    if (!m) {
      throw new NotFoundException(`no meter ${id}`);
    }
    return {
      id: m.id,
      registrar: m.registrar,
      status: m.status,
      publicKey: toHex(m.publicKey),
      alpha: m.alpha ? toHex(m.alpha) : null,
      dimensions: m.dimensions,
      policy: m.policy,
      epoch: m.epoch,
      // Where the owner's notifications go: on the chain, so members may read it; the meter itself
      // (and anyone else without credentials) has no need to.
      ...(request.principal ? { owner: m.owner, location: m.location } : {}),
      registeredTx: toHex(m.registeredTx),
      activatedTx: m.activatedTx ? toHex(m.activatedTx) : null,
      revokedTx: m.revokedTx ? toHex(m.revokedTx) : null,
      revokedReason: m.revokedReason,
      registeredAt: m.registeredAt,
      updatedAt: m.updatedAt,
    };
  }

  @Get('receivers')
  @Public()
  @ApiOperation({ summary: 'Registered receivers and their encryption keys.' })
  async receivers() {
    const rows = await this.prisma.receiver.findMany({ orderBy: { id: 'asc' } });
    return rows.map((r) => this.receiverView(r));
  }

  @Get('receivers/:id')
  @Public()
  @ApiParam({ name: 'id', description: 'receiver identity' })
  async receiver(@Param('id') id: string) {
    const r = await this.prisma.receiver.findUnique({ where: { id } });
    if (!r) {
      throw new NotFoundException(`no receiver ${id}`);
    }
    return this.receiverView(r);
  }

  @Get('contracts')
  @ApiQuery({ name: 'id', required: false, description: 'one contract: every version, newest first' })
  @ApiOperation({
    summary:
      'Contracts deployed on the chain (contract.deploy): the latest version of each, or every version of one.',
  })
  async contracts(@Query('id') id?: string) {
    const rows = await this.prisma.registryContract.findMany({
      ...(id === undefined ? {} : { where: { id } }),
      orderBy: [{ id: 'asc' }, { version: 'desc' }],
    });
    const shown = id === undefined ? rows.filter((r, i) => i === 0 || rows[i - 1]!.id !== r.id) : rows;
    return shown.map((r) => ({
      id: r.id,
      version: r.version,
      owner: r.owner,
      receiverId: r.receiverId,
      hash: r.hash,
      tx: toHex(r.tx),
      deployedAt: r.deployedAt,
      document: r.document,
    }));
  }

  @Get('delegates')
  @ApiOperation({ summary: 'Accounting-node delegates and their block-signing keys.' })
  async delegates() {
    const rows = await this.prisma.delegate.findMany({ orderBy: { id: 'asc' } });
    return rows.map((d) => ({
      id: d.id,
      organisation: d.organisation,
      status: d.status,
      publicKey: toHex(d.publicKey),
      revokedReason: d.revokedReason,
    }));
  }

  private receiverView(r: {
    id: string;
    organisation: string;
    role: string;
    status: string;
    publicKey: Uint8Array;
    alpha: Uint8Array | null;
    registeredTx: Uint8Array;
    activatedTx: Uint8Array | null;
    revokedReason: string | null;
  }) {
    return {
      id: r.id,
      organisation: r.organisation,
      role: r.role,
      status: r.status,
      publicKey: toHex(r.publicKey),
      alpha: r.alpha ? toHex(r.alpha) : null,
      registeredTx: toHex(r.registeredTx),
      activatedTx: r.activatedTx ? toHex(r.activatedTx) : null,
      revokedReason: r.revokedReason,
    };
  }
}
