"""A user's setup: the manifests of a directory, loaded and checked against the CRDs of the version they
run today, before anything starts.

Each document must be valid YAML and an object that version knows: a cert-manager kind and apiVersion
its CRDs serve (every field checked against that version's openAPIV3Schema: unknown fields, types, enums,
required fields), or one of the few plain Kubernetes kinds a setup holds (Namespace, Secret, Ingress).
Every problem names the file, the object (document index, kind and name) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import HarnessError

# Plain Kubernetes kinds a setup may hold beside cert-manager's: namespaces, the Secrets its issuers
# reference, and Ingresses for the ingress shim (annotated with cert-manager.io/(cluster-)issuer).
CORE_KINDS = {("v1", "Namespace"), ("v1", "Secret"), ("networking.k8s.io/v1", "Ingress")}
CLUSTER_SCOPED = {"Namespace", "ClusterIssuer"}
DEFAULT_NAMESPACE = "default"
# Fields every object has that no CRD schema lists (the API server handles them itself).
_ROOT_FIELDS = {"apiVersion", "kind", "metadata", "status"}
_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


@dataclass
class SetupObject:
    """One document of the setup: where it came from, and its body (rewritten in place for the lab)."""

    file: str
    index: int  # position of the document in its file, from 0
    body: dict

    @property
    def kind(self) -> str:
        return self.body.get("kind", "")

    @property
    def name(self) -> str:
        return (self.body.get("metadata") or {}).get("name", "")

    @property
    def namespace(self) -> str | None:
        if self.kind in CLUSTER_SCOPED:
            return None
        return (self.body.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE

    @property
    def ref(self) -> str:
        """How messages name the object: Kind namespace/name, or Kind name for a cluster-scoped one."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def where(self) -> str:
        return f"{self.file} (document {self.index + 1}, {self.ref})"


@dataclass
class Problem:
    file: str
    object: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.object}: {self.field}: {self.message}" if self.field else \
            f"{self.file}: {self.object}: {self.message}"


class InvalidSetup(HarnessError):
    """The setup has problems; each names file, object and field. Raised before anything starts."""

    def __init__(self, directory: str, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"setup {directory}: {len(problems)} problem(s), nothing was started:\n{lines}")


@dataclass
class Schemas:
    """What a cert-manager version knows: (apiVersion, kind) -> openAPIV3Schema, from its CRDs."""

    version: str
    by_kind: dict[tuple[str, str], dict] = field(default_factory=dict)

    @classmethod
    def from_crds(cls, version: str, crds: list[dict]) -> "Schemas":
        schemas = cls(version)
        for crd in crds:
            spec = crd["spec"]
            for served in spec["versions"]:
                if served.get("served", True):
                    api_version = f"{spec['group']}/{served['name']}"
                    schemas.by_kind[(api_version, spec["names"]["kind"])] = served["schema"]["openAPIV3Schema"]
        return schemas

    def kinds(self) -> list[str]:
        return sorted({f"{api_version} {kind}" for api_version, kind in self.by_kind} |
                      {f"{api_version} {kind}" for api_version, kind in CORE_KINDS})


def schema_problems(value, schema: dict, path: str) -> list[tuple[str, str]]:
    """(field path, message) for each place `value` breaks `schema` (the subset of OpenAPI v3 structural
    schemas CRDs use: type, properties, additionalProperties, items, required, enum,
    x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string)."""
    if value is None and schema.get("nullable"):
        return []
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return [] if ok else [(path, f"must be an integer or a string, not {_describe(value)}")]
    expected = schema.get("type")
    if expected == "integer" or expected == "number":
        numeric = (int,) if expected == "integer" else (int, float)
        if not isinstance(value, numeric) or isinstance(value, bool):
            return [(path, f"must be {'an integer' if expected == 'integer' else 'a number'}, not {_describe(value)}")]
    elif expected in _TYPES and not isinstance(value, _TYPES[expected]):
        return [(path, f"must be {'an' if expected[0] in 'ao' else 'a'} {expected}, not {_describe(value)}")]
    if "enum" in schema and value not in schema["enum"]:
        return [(path, f"{value!r} is not one of {', '.join(map(repr, schema['enum']))}")]
    problems: list[tuple[str, str]] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        for name in schema.get("required", []):
            if name not in value:
                problems.append((_join(path, name), "is required"))
        for name, item in value.items():
            if properties is not None and name in properties:
                problems += schema_problems(item, properties[name], _join(path, name))
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += schema_problems(item, schema["additionalProperties"], _join(path, name))
            elif properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append((_join(path, name), f"unknown field (known here: {', '.join(sorted(properties))})"))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{path}[{index}]")
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def object_problems(obj: SetupObject, schemas: Schemas) -> list[Problem]:
    """What is wrong with one object for this version (empty when it is valid)."""
    def problem(field_path: str, message: str) -> Problem:
        return Problem(obj.file, f"document {obj.index + 1} ({obj.ref or 'no kind'})", field_path, message)

    body = obj.body
    if not isinstance(body, dict):
        return [Problem(obj.file, f"document {obj.index + 1}", "", f"is {_describe(body)}, not an object")]
    missing = [name for name in ("apiVersion", "kind") if not isinstance(body.get(name), str)]
    if missing:
        return [problem(name, "is required (a string)") for name in missing]
    if not isinstance(body.get("metadata"), dict) or not body["metadata"].get("name"):
        return [problem("metadata.name", "is required")]
    key = (body["apiVersion"], body["kind"])
    if key in CORE_KINDS:
        return []
    if key not in schemas.by_kind:
        same_kind = sorted(api_version for api_version, kind in schemas.by_kind if kind == body["kind"])
        hint = (f"cert-manager {schemas.version} serves {body['kind']} as {', '.join(same_kind)}" if same_kind
                else f"known kinds: {', '.join(schemas.kinds())}")
        field_name = "apiVersion" if same_kind else "kind"
        return [problem(field_name, f"{body['apiVersion']} {body['kind']} is not an object cert-manager "
                                    f"{schemas.version} knows ({hint})")]
    schema = schemas.by_kind[key]
    rest = {name: value for name, value in body.items() if name not in _ROOT_FIELDS}
    problems = schema_problems(rest, {**schema, "required": [r for r in schema.get("required", [])
                                                             if r not in _ROOT_FIELDS],
                                      "properties": {name: value for name, value in
                                                     schema.get("properties", {}).items()
                                                     if name not in _ROOT_FIELDS}}, "")
    return [problem(path, message) for path, message in problems]


def load(directory: str | Path) -> list[SetupObject]:
    """Every document of every *.yaml / *.yml file under `directory` (sorted by path), or InvalidSetup
    listing each file that is not valid YAML (with line and column)."""
    root = Path(directory)
    if not root.is_dir():
        raise HarnessError(f"setup {root}: not a directory. Fix: pass --setup DIR, a directory of your "
                           f"Issuers, ClusterIssuers, Certificates and Ingresses (YAML)")
    files = sorted(path for path in root.rglob("*") if path.suffix in (".yaml", ".yml") and path.is_file())
    if not files:
        raise HarnessError(f"setup {root}: no *.yaml or *.yml files. Fix: put your manifests there")
    objects: list[SetupObject] = []
    problems: list[Problem] = []
    for path in files:
        relative = str(path.relative_to(root))
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
            problems.append(Problem(relative, where, "", f"not valid YAML: {getattr(error, 'problem', None) or error}"))
            continue
        objects += [SetupObject(relative, index, document) for index, document in enumerate(documents)
                    if document is not None]
    if problems:
        raise InvalidSetup(str(root), problems)
    return objects


def validate(directory: str | Path, objects: list[SetupObject], schemas: Schemas) -> None:
    """InvalidSetup listing every problem of every object (and duplicate objects), else nothing."""
    problems = [problem for obj in objects for problem in object_problems(obj, schemas)]
    seen: dict[tuple, SetupObject] = {}
    for obj in objects:
        if not isinstance(obj.body, dict):
            continue
        key = (obj.kind, obj.namespace, obj.name)
        if key in seen:
            problems.append(Problem(obj.file, f"document {obj.index + 1} ({obj.ref})", "metadata.name",
                                    f"same object as {seen[key].where()}"))
        seen[key] = obj
    if problems:
        raise InvalidSetup(str(directory), problems)
