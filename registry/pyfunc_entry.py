"""Entry file of the logged pyfunc ("models from code"): MLflow runs it when the model is loaded."""

from mlflow.models import set_model

from registry.pyfunc import PropensityPyfunc

set_model(PropensityPyfunc())
