import Foundation
import GreenlightCore
import GreenlightTransparency

/// The deploy record an auditor asks for, built from the gate's audit events alone — who triggered it, what, when,
/// who approved under which policy and tier, whether separation of duties held — and the decision's proof that the
/// record is in the witnessed log. Nothing here comes from the gate's row: the evidence is the log.
public enum DeployEvidence {
    /// The record of gate `gateID`, from its events (oldest first) and its decision's `tlog-proof`, if there is one.
    public static func document(gateID: String, events: [AuditEvent], proof: TransparencyProof?) -> [String: Any] {
        var document: [String: Any] = ["gate": gateID]
        let opened = events.first { $0.action == AuditAction.gateOpened.rawValue }
        if let opened {
            let details = opened.details
            document["service"] = opened.service
            document["environment"] = opened.environment
            document["artifact"] = opened.artifact
            document["commit"] = details["commit"]
            document["tier"] = details["tier"]
            document["rule"] = details["rule"]
            document["policy_hash"] = details["policy_hash"]
            document["requirements"] = details["requirements"]
            document["opened"] = compact([
                "at": Timestamp.format(opened.at), "by": opened.actor, "triggered_by": details["triggered_by"],
                "authors": details["authors"].map(list), "deadline": details["deadline"],
            ])
        }
        func votes(_ decision: String) -> [[String: Any]] {
            events.filter { $0.action == AuditAction.voteRecorded.rawValue && $0.details["decision"] == decision }.map { event in
                compact(["by": event.actor, "at": Timestamp.format(event.at), "via": event.details["via"], "comment": event.details["comment"]])
            }
        }
        let approvals = votes("approve")
        document["approvals"] = approvals
        document["rejections"] = votes("reject")
        document["break_glass"] = events.filter { $0.action == AuditAction.breakGlass.rawValue }.map { event in
            compact(["by": event.actor, "at": Timestamp.format(event.at), "reason": event.details["reason"]])
        }
        document["refused_votes"] = events.filter { $0.action == AuditAction.voteRefused.rawValue }.map { event in
            compact(["by": event.actor, "at": Timestamp.format(event.at), "reason": event.details["reason"]])
        }
        let decided = events.first { $0.action == AuditAction.gateDecided.rawValue }
        if let decided {
            document["decision"] = compact([
                "state": decided.details["state"], "outcome": decided.details["outcome"], "at": Timestamp.format(decided.at), "by": decided.actor,
                "reason": decided.details["reason"], "fail_open": decided.details["fail_open"], "break_glass": decided.details["break_glass"],
            ])
        }
        // Separation of duties: none of the people Greenlight barred (authors, the triggerer) approved.
        let barred = Set((opened?.details["excluded"]).map(list)?.map { $0.split(separator: " ").first.map(String.init) ?? $0 } ?? [])
        let approvers = Set(approvals.compactMap { $0["by"] as? String })
        let breaches = approvers.intersection(barred).sorted()
        document["separation_of_duties"] = compact([
            "held": breaches.isEmpty, "excluded": barred.sorted(), "approved_while_excluded": breaches.isEmpty ? nil : breaches,
        ])
        document["events"] = events.map(\.sequence)
        if let proof, let checkpoint = try? Checkpoint(text: proof.checkpoint.text) {
            document["proof"] = [
                "log": checkpoint.origin, "log_index": proof.index, "tree_size": checkpoint.size,
                "signed_by": proof.checkpoint.signatures.map(\.keyName), "tlog_proof": proof.encoded,
            ]
        } else {
            document["proof"] = NSNull()
        }
        return document
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private static func compact(_ fields: [String: Any?]) -> [String: Any] { fields.compactMapValues { $0 } }
}
