import Synchronization

/// The address people and pipelines use to reach this server, for the `url` of every gate.
///
/// Set from `--public-url`; otherwise learnt from the listening socket once the server is running.
public final class PublicURL: Sendable {
    private let storage: Mutex<String>

    public init(_ value: String) {
        storage = Mutex(value)
    }

    public var value: String { storage.withLock { $0 } }

    func set(_ value: String) {
        storage.withLock { $0 = value }
    }
}
