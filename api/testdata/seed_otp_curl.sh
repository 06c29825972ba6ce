# The seed's "Send an OTP email via REST API" example (the project's seed examples), as
# written there apart from the page's rendering artefacts: &#039; is ', the obfuscated
# "[email protected]" addresses are auth@yourproduct.com and user@example.com, and \\" is \"
# (the page doubled the backslash; \\" would end the JSON string). The test replaces the host.

# In production use a TOTP library (pyotp, speakeasy) — this is illustrative
OTP="847291"

curl -X POST https://api.multimail.dev/v1/send_email \
  -H "Authorization: Bearer $MULTIMAIL_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "mailbox_id": "auth@yourproduct.com",
    "to": "user@example.com",
    "subject": "Your one-time sign-in code",
    "html": "<p>Your sign-in code is <strong style=\"font-size:28px;letter-spacing:6px;\">847291</strong></p><p>This code expires in 10 minutes and can only be used once.</p><p style=\"color:#888;font-size:12px;\">If you did not request this code, you can ignore this email.</p>",
    "text": "Your sign-in code is 847291. Expires in 10 minutes. Do not share this code.",
    "priority": "high",
    "tags": ["auth", "otp"]
  }'
