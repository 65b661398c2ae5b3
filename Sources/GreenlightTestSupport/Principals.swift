import GreenlightCore

extension Principal {
    /// The pipeline whose token is `name`, scoped to `services` and `environments` (empty: any).
    public static func pipeline(named name: String, services: [String] = [], environments: [String] = []) -> Principal {
        .pipeline(PipelineToken(name: name, services: services, environments: environments))
    }

    /// The person `name`, authenticated by an approver token of the same name and acting through `via`.
    public static func approver(_ name: String, via: VoteChannel = .api) -> Principal {
        .person(ActingPerson(name: name, via: via, credential: .token(name)))
    }
}
