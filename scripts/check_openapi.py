"""infra/openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the routes of
infra/template.yaml: every (method, path) of the template (both slash forms count once; `ANY`
on a catalog item means GET and PATCH, what its handler serves; the catch-all 404 is not an
operation) is in the document, and the document has nothing the template lacks.

usage: python scripts/check_openapi.py  (run by make test)
"""

import sys

import yaml
from openapi_spec_validator import validate

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, …) read as plain values."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_routes(path: str) -> set:
    with open(path) as f:
        template = yaml.load(f, Loader=TemplateLoader)
    routes = set()
    for resource in template["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event["Properties"]
            route = props["Path"].rstrip("/") + "/"
            if "{proxy+}" in route or "{rest+}" in route:
                continue
            methods = ["get", "patch"] if props["Method"] == "ANY" else [props["Method"].lower()]
            routes.update((m, route) for m in methods)
    return routes


def document_routes(document: dict) -> set:
    return {(m, p) for p, item in document["paths"].items() for m in item if m in HTTP_METHODS}


def main() -> None:
    with open("infra/openapi.yaml") as f:
        document = yaml.safe_load(f)
    validate(document)
    in_template, in_document = template_routes("infra/template.yaml"), document_routes(document)
    problems = [f"in the template, not the document: {m.upper()} {p}" for m, p in sorted(in_template - in_document)]
    problems += [f"in the document, not the template: {m.upper()} {p}" for m, p in sorted(in_document - in_template)]
    if problems:
        sys.exit("openapi: " + "\n".join(problems))
    print(f"openapi: infra/openapi.yaml is valid and matches the template's {len(in_template)} operations")


if __name__ == "__main__":
    main()
