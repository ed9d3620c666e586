import { GraphQLError, Kind, type ASTVisitor, type DirectiveNode, type ValidationContext } from 'graphql';

/**
 * The incremental delivery proposal's rules for `@defer` that graphql 16 does not have (graphql 17 ships them): a label
 * is a string written in the document, unique among the document's @defer labels, since a client matches each
 * payload to its fragment by it; and no @defer sits on the root of a mutation or a subscription, whose root fields run
 * once, in order, or per event.
 */
export function DeferDirectiveRule(context: ValidationContext): ASTVisitor {
  const labels = new Map<string, DirectiveNode>();
  return {
    Directive(node) {
      if (node.name.value !== 'defer') return;
      const schema = context.getSchema();
      const parent = context.getParentType();
      if (parent && (parent === schema.getMutationType() || parent === schema.getSubscriptionType())) {
        const root = parent === schema.getMutationType() ? 'mutation' : 'subscription';
        context.reportError(new GraphQLError(`@defer cannot be used on the root ${root} type "${parent.name}"`, { nodes: node }));
      }
      const label = node.arguments?.find((argument) => argument.name.value === 'label');
      if (!label) return;
      if (label.value.kind !== Kind.STRING) {
        context.reportError(
          new GraphQLError('The label of @defer must be a string written in the document, not a variable', { nodes: label.value }),
        );
        return;
      }
      const first = labels.get(label.value.value);
      if (first) {
        context.reportError(new GraphQLError(`Two @defer cannot share the label "${label.value.value}"`, { nodes: [first, node] }));
        return;
      }
      labels.set(label.value.value, node);
    },
  };
}
