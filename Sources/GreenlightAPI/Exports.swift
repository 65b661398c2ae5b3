// The wire shapes speak the domain's vocabulary (`GateID`, `GateState`, `VoteDecision`…): a client that imports
// GreenlightAPI has those too, and needs nothing else of Greenlight's (the domain is Foundation only).
@_exported import GreenlightCore
