import type { AppContext } from '../context.js';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import {
  findValidationRequest,
  insertValidationRequest,
  insertValidationResponse,
  validationSummary,
} from '../data/validation-repository.js';
import { AppError } from '../errors.js';
import type {
  ValidationRequestInput,
  ValidationResponseInput,
  ValidationSummaryFilter,
} from '../schemas/registry.js';
import { requireAgent } from './agents-service.js';

export async function requestValidation(
  ctx: AppContext,
  key: ApiKeyRecord,
  agentId: string,
  body: ValidationRequestInput,
) {
  const agent = await requireAgent(ctx, agentId);
  if (agent.owner_address !== key.address)
    throw AppError.forbidden('Only a key of the owner address may request validation');
  const created = await insertValidationRequest(ctx.db, {
    agentId,
    validator: body.validator_address,
    uri: body.request_uri,
    hash: body.request_hash,
    requester: key.address,
  });
  if (!created) throw AppError.conflict(`A validation request with hash ${body.request_hash} exists`);
  return created;
}

export async function respondToValidation(
  ctx: AppContext,
  key: ApiKeyRecord,
  hash: string,
  body: ValidationResponseInput,
) {
  const request = await findValidationRequest(ctx.db, hash);
  if (!request) throw AppError.notFound(`No validation request ${hash}`);
  if (request.validator_address !== key.address) {
    throw AppError.forbidden(`Only the named validator (${request.validator_address}) may respond`);
  }
  const response = await insertValidationResponse(ctx.db, {
    hash,
    response: body.response,
    uri: body.response_uri,
    tag: body.tag,
  });
  return { ...response, agent_id: request.agent_uuid, validator_address: request.validator_address };
}

export async function summarizeValidations(
  ctx: AppContext,
  agentId: string,
  filter: ValidationSummaryFilter,
) {
  await requireAgent(ctx, agentId);
  return validationSummary(ctx.db, agentId, filter);
}
