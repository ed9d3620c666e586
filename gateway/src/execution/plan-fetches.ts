import type { FetchNode, PlanNode } from '@apollo/query-planner';

/**
 * Every node of a plan, in the plan's order, each condition's branches included; undefined where the plan holds a kind
 * of node this walk does not know, which may fetch from anywhere.
 */
export function nodesIn(root: PlanNode | undefined): PlanNode[] | undefined {
  const nodes: PlanNode[] = [];
  const collect = (node: PlanNode | undefined): boolean => {
    if (!node) return true;
    nodes.push(node);
    switch (node.kind) {
      case 'Fetch':
        return true;
      case 'Sequence':
      case 'Parallel':
        return node.nodes.every(collect);
      case 'Flatten':
        return collect(node.node);
      case 'Condition':
        return collect(node.ifClause) && collect(node.elseClause);
      case 'Defer':
        return collect(node.primary.node) && node.deferred.every((deferred) => collect(deferred.node));
      default:
        return false;
    }
  };
  return collect(root) ? nodes : undefined;
}

/** Every fetch of a plan, in the plan's order; undefined where {@link nodesIn} is. */
export function fetchesIn(root: PlanNode | undefined): FetchNode[] | undefined {
  return nodesIn(root)?.filter((node): node is FetchNode => node.kind === 'Fetch');
}
