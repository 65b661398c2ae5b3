import GreenlightCore
import Synchronization

/// The gates this ledger last read or wrote, by id, bounded: a click on a card reads its gate from here instead of
/// the database.
///
/// Never trusted for what it says, only used to compute a change: every transition is conditional on the version it
/// was computed from, so a gate another writer changed since (another process, a replica) fails its condition, is
/// forgotten here, and the change is computed again from the database. Reads for anyone else (the API, long-polls)
/// go to the store.
final class RecentGates: Sendable {
    private struct State {
        var gates: [GateID: Gate] = [:]
        var order: [GateID] = []
        var head = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4_096) {
        self.capacity = capacity
    }

    subscript(id: GateID) -> Gate? {
        state.withLock { $0.gates[id] }
    }

    /// Keeps `gates` as they now are, the oldest entries going first once full.
    func remember(_ gates: [Gate]) {
        state.withLock { state in
            for gate in gates {
                if state.gates.updateValue(gate, forKey: gate.id) != nil { continue }
                if state.order.count < capacity {
                    state.order.append(gate.id)
                } else {
                    state.gates[state.order[state.head]] = nil
                    state.order[state.head] = gate.id
                    state.head = (state.head + 1) % capacity
                }
            }
        }
    }

    /// Drops what is kept of `ids`: another writer changed them.
    func forget(_ ids: some Sequence<GateID>) {
        state.withLock { state in
            for id in ids { state.gates[id] = nil }
        }
    }
}
