/// Who an audit event names as having acted (and who a gate records as having decided it), rendered exactly as the
/// stored evidence spells it (docs/audit.md): a person's name, `pipeline:<token>`, `auditor:<token>`, `operator`,
/// `greenlight`, or `unverified`.
public enum AuditActor: Sendable, Hashable, CustomStringConvertible {
    /// A person, by the name the gate's rules know them by (or a bare Slack id; see ``ActingPerson/name``).
    case person(String)
    /// A pipeline, by its token's name.
    case pipeline(String)
    /// An auditor, by its token's name.
    case auditor(String)
    /// The operator at the CLI (`token create`).
    case `operator`
    /// Greenlight itself: a deadline, a reminder, a policy load, a notification, a gate that needed no approval.
    case greenlight
    /// Someone who could not be authenticated: a request to `/slack/interactions` whose signature failed.
    case unverified

    public var description: String {
        switch self {
        case .person(let name): name
        case .pipeline(let name): "pipeline:\(name)"
        case .auditor(let name): "auditor:\(name)"
        case .operator: "operator"
        case .greenlight: "greenlight"
        case .unverified: "unverified"
        }
    }

    /// The actor a stored rendering names, such as a gate's `decided_by`. Rendering it gives `rendered` back, byte for
    /// byte, whatever it holds; what is not one of the fixed forms is a person.
    public init(rendered: String) {
        switch rendered {
        case "operator": self = .operator
        case "greenlight": self = .greenlight
        case "unverified": self = .unverified
        default:
            if let name = rendered.dropPrefix("pipeline:") {
                self = .pipeline(name)
            } else if let name = rendered.dropPrefix("auditor:") {
                self = .auditor(name)
            } else {
                self = .person(rendered)
            }
        }
    }
}

extension String {
    /// The rest of the string after an ASCII `prefix`, compared and cut as bytes (not as characters, which compare by
    /// canonical equivalence), so that the prefix and the rest make the very same bytes again.
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        guard utf8.starts(with: prefix.utf8) else { return nil }
        return String(decoding: utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
