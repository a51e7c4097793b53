from django.urls import path

from ejia.accounts.policies import public_view
from ejia.api.api import api
from ejia.api.views import jwks_view

urlpatterns = [
    path("api/v1/", api.urls),
    path(".well-known/jwks.json", public_view(jwks_view), name="api_jwks"),
]
