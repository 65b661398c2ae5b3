import GreenlightCore
import Synchronization

/// A bounded memo of the parts of a gate that never change once it is stored: its request and its plan.
///
/// Correct across processes and stores because a gate's id is random and its request and plan are immutable: any
/// store that reads the id reads the same JSON. Bounded so that a long-running server does not hold every gate it
/// has seen; the oldest entries go first.
final class FrozenGateParts: Sendable {
    private struct State {
        var parts: [GateID: (GateRequest, GatePlan)] = [:]
        var order: [GateID] = []
        var head = 0
    }

    static let capacity = 4_096
    private let state = Mutex(State())

    /// Remembers the parts of a gate just written, so that the server that opened it never decodes them.
    func remember(_ gate: Gate) {
        _ = parts(of: gate.id) { (gate.request, gate.plan) }
    }

    /// The request and plan of gate `id`, decoded by `decode` the first time.
    func parts(of id: GateID, decode: () throws -> (GateRequest, GatePlan)) rethrows -> (GateRequest, GatePlan) {
        if let parts = state.withLock({ $0.parts[id] }) { return parts }
        let parts = try decode()
        state.withLock { state in
            guard state.parts[id] == nil else { return }
            if state.order.count < Self.capacity {
                state.order.append(id)
            } else {
                // A ring: overwrite the oldest id.
                state.parts[state.order[state.head]] = nil
                state.order[state.head] = id
                state.head = (state.head + 1) % Self.capacity
            }
            state.parts[id] = parts
        }
        return parts
    }
}
