"""The chat suite: questions a fulfillment engineer asks, each turn checked for its kind, the tools
it ran, facts recomputed from the warehouse with plain SQL, and the global grounding checks."""
