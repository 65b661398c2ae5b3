import Foundation
import GreenlightAPI
import GreenlightClient
import GreenlightCore

/// How the CLI describes a gate to a person.
enum GateOutput {
    /// One line: the decision, who made it, when, and the gate URL.
    static func decision(_ gate: GateResource) -> String {
        let state = gate.state.displayName
        let by = gate.decidedBy.map { " by \($0)" } ?? ""
        let at = gate.decidedAt.map { " at \($0)" } ?? ""
        let reason = gate.reason.map { " — \($0)" } ?? ""
        var lines = ["\(gate.id) \(state)\(by)\(at)\(reason)"]
        if let frozen = gate.frozen {
            lines.append(
                "\(gate.environment) is frozen ('\(frozen.name)') until \(frozen.endsAt). To deploy before then, someone the policy's "
                    + "break_glass allows runs: greenlight break-glass \(gate.id) --reason \"…\", then re-run this step")
        }
        if gate.breakGlass { lines.append("approved by break-glass: listed by 'greenlight audit query --break-glass' for review") }
        if gate.failOpen { lines.append("approved because nobody decided in time (fail-open\(gate.failOpenReason.map { ": \($0)" } ?? ""))") }
        lines.append(gate.url)
        return lines.joined(separator: "\n")
    }

    /// What a pending gate still needs: "1 of 2 from platform-leads (approved so far: alice)".
    /// With several stages, the open one is named: "1 of 1 from finance, in stage 2 of 2 (finance)".
    static func needs(_ gate: GateResource) -> String {
        let needs = gate.requirements.map { Tally.summary(group: $0.group, count: $0.count, approvals: $0.approvals) }.joined(separator: "; ")
        guard let open = gate.openStage, let index = gate.stages.firstIndex(where: { $0.name == open }) else { return needs }
        return Tally.inStage(needs, open: index, of: gate.stages.count, named: open)
    }

    static func json(_ gate: GateResource) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(gate), as: UTF8.self)) ?? "{}"
    }
}
