from django.conf import settings


def platform(request):
    return {
        "PLATFORM_NAME": "e家大救助",
        "ELDER_MODE": request.COOKIES.get("elder") == "1",
        "DEBUG": settings.DEBUG,
    }
