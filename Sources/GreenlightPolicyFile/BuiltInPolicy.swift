import Foundation
import GreenlightCore

/// The policy `greenlight serve` uses when no `--config` is given: every environment is gated, and needs one
/// approval from the `admins` group, whose one member is the person `admin`; 4 hours, then reject.
public enum BuiltInPolicy {
    public static let document = """
        # Greenlight's built-in policy: used when `greenlight serve` has no --config.
        version: 1
        people:
          admin: {}
        groups:
          admins: { members: [admin] }
        default:
          require: [ { group: admins, count: 1 } ]
          separation_of_duties: [author, triggerer]
          timeout: 4h
          on_timeout: reject

        """

    /// The parsed built-in policy. It is checked by the test suite, so parsing cannot fail here.
    public static var policy: Policy {
        do {
            return try PolicyParser(file: "built-in").parse(document).policy
        } catch {
            fatalError("the built-in policy does not parse: \(error)")
        }
    }
}
