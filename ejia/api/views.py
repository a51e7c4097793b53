from django.http import JsonResponse
from django.views.decorators.http import require_GET

from ejia.api.keys import jwks


@require_GET
def jwks_view(request):
    """The public key(s) that verify our tokens (and, for partners, our signatures)."""
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=3600"
    return response
