"""Where the upstream CRD manifests of the custom kinds we emit come from: pinned downloads (`fetch`, for
`archangel-helm crds fetch`) and Go modules in Go's module cache (`gomod`)."""
