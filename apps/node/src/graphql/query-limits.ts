import type { ApolloDriverConfig } from '@nestjs/apollo';
import {
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';

/**
 * Refuses operations nested deeper than `max` fields (introspection's own __ fields aside): a
 * client cannot make the node walk block -> transaction -> block -> ... without end.
 */
export function depthLimit(max: number): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation) {
      const depth = depthOf(operation.selectionSet, context, new Set());
      if (depth > max) {
        context.reportError(
          new GraphQLError(`the query is ${depth} levels deep; the limit is ${max}`, {
            nodes: [operation],
            extensions: { code: 'QUERY_TOO_DEEP' },
          }),
        );
      }
    },
  });
}

function depthOf(set: SelectionSetNode, context: ValidationContext, fragments: Set<string>): number {
  let deepest = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) {
        continue;
      }
      const below = selection.selectionSet ? depthOf(selection.selectionSet, context, fragments) : 0;
      deepest = Math.max(deepest, 1 + below);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, depthOf(selection.selectionSet, context, fragments));
    } else {
      const name = selection.name.value;
      const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name);
      if (fragment && !fragments.has(name)) {
        deepest = Math.max(deepest, depthOf(fragment.selectionSet, context, new Set([...fragments, name])));
      }
    }
  }
  return deepest;
}

/**
 * Refuses operations whose estimated cost is over `max`: each field costs 1, and a list field costs
 * its children times the number of items it asks for (the `complexity` of the field's options).
 */
export function complexityLimit(max: number): NonNullable<ApolloDriverConfig['plugins']>[number] {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ request, document, schema }) {
          const cost = getComplexity({
            schema,
            query: document,
            ...(request.operationName ? { operationName: request.operationName } : {}),
            variables: request.variables ?? {},
            estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
          });
          if (cost > max) {
            throw new GraphQLError(`the query costs ${cost}; the limit is ${max}`, {
              extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } },
            });
          }
          return Promise.resolve();
        },
      });
    },
  };
}
