import GreenlightCore

/// `audit export --format csv`.
public enum AuditCSV {
    public static let header = "sequence,at,actor,action,gate_id,service,environment,artifact,details,previous_hash,hash"

    public static func row(_ event: AuditEvent) -> String {
        let details = AuditChain.detailsJSON(event.details)
        return [
            String(event.sequence), Timestamp.format(milliseconds: Timestamp.milliseconds(event.at)), event.actor, event.action,
            event.gateID ?? "", event.service ?? "", event.environment ?? "", event.artifact ?? "", details, event.previousHash, event.hash,
        ].map(field).joined(separator: ",")
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break (looked for in its bytes: "\r\n" is one
    /// `Character`, equal to neither), its quotes doubled. A value a spreadsheet would run as a formula (beginning
    /// with =, +, -, @, a tab or a carriage return) is written after a ' (OWASP's advice), so that opening the export
    /// cannot run what a pipeline put in an artifact name.
    public static func field(_ value: String) -> String {
        var value = value
        if let first = value.utf8.first, [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(first) {
            value = "'" + value
        }
        guard value.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return value }
        var quoted: [UInt8] = [0x22]
        for byte in value.utf8 {
            if byte == 0x22 { quoted.append(0x22) }
            quoted.append(byte)
        }
        quoted.append(0x22)
        return String(decoding: quoted, as: UTF8.self)
    }
}
