"""Send a magic link email via Python SDK (the seed's first example).

The code below is the documentation's example as written; only the addresses are this
repository's test ones (auth@example.com is a mailbox of the end-to-end harness). Run it with
the key and the server from the environment:

    MULTIMAIL_API_KEY=mm_live_… MULTIMAIL_API_URL=http://127.0.0.1:8025 python3 magic_link.py

``api_key="$MULTIMAIL_API_KEY"`` is read from that environment variable by the SDK.
"""

from multimail import MultimailClient
import secrets
import time

client = MultimailClient(api_key="$MULTIMAIL_API_KEY")

# Your auth layer generates the token — MultiMail never sees raw secrets
raw_token = secrets.token_urlsafe(32)
expiry = int(time.time()) + 600  # 10-minute window
magic_link = f"https://app.yourproduct.com/auth/verify?token={raw_token}&exp={expiry}"

result = client.send_email(
    mailbox_id="auth@example.com",
    to="user@customer.test",
    subject="Your secure sign-in link",
    html=f"""
        <p>Click the link below to sign in. It expires in 10 minutes.</p>
        <p><a href="{magic_link}">Sign in to YourProduct</a></p>
        <p>If you didn't request this, you can ignore this email.</p>
        <p style="color:#888;font-size:12px;">
            This link was generated for your current session and can only be used once.
        </p>
    """,
    text=f"Sign in: {magic_link}\n\nExpires in 10 minutes. If you didn't request this, ignore this email.",
    priority="high",
    tags=["auth", "magic-link"]
)

# Store message_id — delivery confirmation arrives at your webhook endpoint
print(f"Queued: {result.message_id}, status: {result.status}")
