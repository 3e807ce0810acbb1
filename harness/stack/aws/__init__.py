"""The lab's AWS part: moto's server (Route 53, IAM, STS) with IAM enforced, the TLS front under AWS's host names
that gives cert-manager AWS's answers, and the CONNECT proxy that routes aws-sdk-go to it (docs/aws.md)."""
