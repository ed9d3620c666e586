import type { FetchNode, PlanNode } from '@apollo/query-planner';

/**
 * Every fetch of a plan, in the plan's order; undefined where the plan holds a kind of node this walk does not know,
 * which may fetch from anywhere.
 */
export function fetchesIn(root: PlanNode | undefined): FetchNode[] | undefined {
  const fetches: FetchNode[] = [];
  const collect = (node: PlanNode | undefined): boolean => {
    if (!node) return true;
    switch (node.kind) {
      case 'Fetch':
        fetches.push(node);
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
  return collect(root) ? fetches : undefined;
}
