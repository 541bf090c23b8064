"""Where the project's shipped files live (schemas, topologies, deploy assets).

The package runs from a checkout (``pip install -e``) or from the Docker image, which copies the
whole repository; both keep these folders next to the package.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "schemas"
TOPOLOGIES_DIR = REPO_ROOT / "topologies"
DEPLOY_DIR = REPO_ROOT / "deploy"
