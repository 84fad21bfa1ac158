"""Lines spoken in the chatbot simulator: customers, the bot, escalation reasons.

Plain data, per language (English, Spanish, German, French, Portuguese,
Japanese), so simulated conversations read like a real support chat and the
help desk's translation and summaries have something to work on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    opening: str  # the customer's first message
    follow_ups: tuple[str, ...]  # what the customer may add later
    bot_answers: tuple[str, ...]  # what the bot may say
    escalation_reason: str  # why the bot hands this one to a human (in English)


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    names: tuple[str, ...]
    topics: tuple[Topic, ...]
    handoff: str  # the bot, when it escalates
    holding: str  # the bot, while escalated and waiting for a human
    thanks: tuple[str, ...]  # the customer, after a teammate answered
    ask_human: str  # the customer, asking for a person


CHANNELS = ("web", "web", "web", "whatsapp", "whatsapp", "messenger", "instagram", "telegram")

SYSTEM_ESCALATED = "Conversation escalated to a human: {reason}"
SYSTEM_TAKEN_OVER = "A teammate took over the conversation"
SYSTEM_HANDED_BACK = "The conversation was handed back to the assistant"
SYSTEM_ENDED = "Conversation ended"
SYSTEM_REOPENED = "Conversation reopened by the customer"

LANGUAGES: dict[str, Language] = {
    "en": Language(
        code="en",
        names=("Alice Johnson", "Sam Carter", "Priya Patel", "Tom O'Brien", "Grace Lee"),
        topics=(
            Topic(
                "Hi, where is my order #{order}? It was supposed to arrive on Monday.",
                ("The tracking page hasn't changed in four days.", "Can you just tell me when it will come?"),
                ("Let me look that up for you. Your order #{order} left our warehouse and is with the carrier.",
                 "Carriers are running a little late this week; it should arrive within 2 business days."),
                "Order {order} appears stuck in transit; customer asks for a firm delivery date",
            ),
            Topic(
                "I was charged twice for the same subscription this month.",
                ("I can send a screenshot of my bank statement.", "I'd like the duplicate charge refunded."),
                ("I'm sorry about that. I can see two payments on your account.",
                 "Refunds of duplicate charges are reviewed by our billing team."),
                "Duplicate subscription charge; refund needs billing approval",
            ),
            Topic(
                "The parcel arrived and the mug inside is broken.",
                ("The box was crushed on one side.", "Can I get a replacement instead of a refund?"),
                ("I'm sorry it arrived damaged. Could you send a photo of the item?",
                 "Thanks, I've noted the damage on your order."),
                "Damaged item on arrival; customer wants a replacement",
            ),
        ),
        handoff="I'm connecting you with a member of our team who can help with this.",
        holding="A teammate will be with you shortly. Thanks for your patience!",
        thanks=("Thanks, that helps!", "Great, thank you.", "OK, I'll wait for the email."),
        ask_human="Can I talk to a real person please?",
    ),
    "es": Language(
        code="es",
        names=("Lucía Fernández", "Javier Morales", "Carmen Ruiz", "Diego Torres"),
        topics=(
            Topic(
                "Hola, mi pedido #{order} todavía no ha llegado y ya pasó una semana.",
                ("El número de seguimiento no funciona.", "¿Me pueden decir qué pasó con mi paquete?"),
                ("Voy a revisar el estado de tu pedido #{order}.",
                 "Tu paquete está en tránsito; debería llegar en dos días hábiles."),
                "Order {order} delayed a week; tracking number not working",
            ),
            Topic(
                "Quiero devolver unas zapatillas pero la web me da un error.",
                ("El error dice 'plazo vencido', pero las compré hace diez días.", "¿Puedo devolverlas en tienda?"),
                ("Las devoluciones se aceptan durante 30 días desde la entrega.",
                 "Lamento el problema con la web. Déjame comprobarlo."),
                "Return portal rejects a return that should be within the 30-day window",
            ),
        ),
        handoff="Te voy a pasar con una persona de nuestro equipo que podrá ayudarte.",
        holding="Alguien del equipo te atenderá en breve. ¡Gracias por tu paciencia!",
        thanks=("¡Muchas gracias!", "Perfecto, gracias por la ayuda.", "Vale, espero el correo."),
        ask_human="¿Puedo hablar con una persona, por favor?",
    ),
    "de": Language(
        code="de",
        names=("Jürgen Müller", "Anna Schäfer", "Lukas Weiß", "Sophie Becker"),
        topics=(
            Topic(
                "Guten Tag, ich habe eine Rechnung über 89,90 € bekommen, obwohl ich gekündigt habe.",
                ("Die Kündigung habe ich am 3. per E-Mail geschickt.", "Bitte stornieren Sie die Rechnung."),
                ("Das tut mir leid. Ich sehe mir Ihr Kundenkonto an.",
                 "Kündigungen werden innerhalb von zwei Werktagen bearbeitet."),
                "Invoice issued after the customer says they cancelled; wants it voided",
            ),
            Topic(
                "Ich komme nicht mehr in mein Konto, das Passwort-Zurücksetzen funktioniert nicht.",
                ("Die E-Mail zum Zurücksetzen kommt einfach nicht an.", "Spam-Ordner habe ich schon geprüft."),
                ("Ich kann Ihnen einen neuen Link zum Zurücksetzen schicken.",
                 "Bitte prüfen Sie auch Ihren Spam-Ordner."),
                "Password reset e-mails not arriving; account locked",
            ),
        ),
        handoff="Ich verbinde Sie mit einem Kollegen aus unserem Team.",
        holding="Gleich meldet sich jemand aus dem Team bei Ihnen. Danke für Ihre Geduld!",
        thanks=("Vielen Dank!", "Super, danke für die schnelle Hilfe.", "Alles klar, danke."),
        ask_human="Kann ich bitte mit einem Menschen sprechen?",
    ),
    "fr": Language(
        code="fr",
        names=("Élodie Martin", "Camille Dubois", "Hugo Lefèvre", "Chloé Bernard"),
        topics=(
            Topic(
                "Bonjour, je voudrais changer l'adresse de livraison de ma commande #{order}.",
                ("J'ai déménagé la semaine dernière.", "C'est possible si le colis est déjà parti ?"),
                ("Je regarde si la commande #{order} a déjà été expédiée.",
                 "Une fois le colis expédié, l'adresse ne peut plus être modifiée en ligne."),
                "Address change requested for order {order}, which may already have shipped",
            ),
            Topic(
                "Mon code promo ne fonctionne pas au moment du paiement.",
                ("Le code est BIENVENUE10.", "Il est écrit qu'il est valable jusqu'à la fin du mois."),
                ("Certains codes ne s'appliquent pas aux articles en promotion.",
                 "Pouvez-vous me dire quels articles sont dans votre panier ?"),
                "Promo code rejected at checkout; customer insists it is valid",
            ),
        ),
        handoff="Je vous mets en relation avec un membre de notre équipe.",
        holding="Un conseiller va vous répondre dans un instant. Merci de votre patience !",
        thanks=("Merci beaucoup !", "Parfait, merci.", "D'accord, merci pour votre aide."),
        ask_human="Est-ce que je peux parler à un conseiller, s'il vous plaît ?",
    ),
    "pt": Language(
        code="pt",
        names=("João Silva", "Beatriz Costa", "Rafael Souza", "Mariana Oliveira"),
        topics=(
            Topic(
                "Olá, recebi o produto errado no pedido #{order}.",
                ("Pedi o tamanho M e veio o G.", "Como faço para trocar?"),
                ("Sinto muito pelo engano. Vou verificar o pedido #{order}.",
                 "Podemos enviar uma etiqueta de devolução gratuita."),
                "Wrong size delivered for order {order}; exchange needed",
            ),
            Topic(
                "Meu pagamento por Pix foi aprovado mas o pedido continua pendente.",
                ("Já faz mais de 24 horas.", "Tenho o comprovante aqui."),
                ("Pagamentos por Pix costumam ser confirmados em poucos minutos.",
                 "Vou verificar com o sistema de pagamentos."),
                "Pix payment confirmed by the bank but order still pending after 24h",
            ),
        ),
        handoff="Vou transferir você para alguém da nossa equipe.",
        holding="Alguém da equipe vai atender você em breve. Obrigado pela paciência!",
        thanks=("Muito obrigado!", "Perfeito, obrigada.", "Tudo bem, fico aguardando."),
        ask_human="Posso falar com um atendente, por favor?",
    ),
    "ja": Language(
        code="ja",
        names=("佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健"),
        topics=(
            Topic(
                "注文番号{order}の商品がまだ届いていません。",
                ("配送状況が三日間更新されていません。", "いつ届くか教えてください。"),
                ("ご不便をおかけして申し訳ありません。注文{order}を確認します。",
                 "配送業者の遅延が発生しています。二営業日以内にお届けの予定です。"),
                "Order {order} not delivered; tracking not updated for three days",
            ),
            Topic(
                "クレジットカードの請求額が間違っているようです。",
                ("クーポンが適用されていません。", "差額を返金してもらえますか。"),
                ("ご請求内容を確認いたします。", "クーポンはお支払い前に適用される必要があります。"),
                "Coupon not applied to the charge; customer asks for the difference back",
            ),
        ),
        handoff="担当者におつなぎします。少々お待ちください。",
        holding="まもなく担当者が対応いたします。お待たせして申し訳ありません。",
        thanks=("ありがとうございます。", "助かりました。", "わかりました、メールを待ちます。"),
        ask_human="担当者と話せますか？",
    ),
}

# How often each language comes up: mostly English, a fair share of the others.
LANGUAGE_WEIGHTS = {"en": 5, "es": 2, "de": 2, "fr": 2, "pt": 1, "ja": 1}

GENERIC_BOT = {
    "en": "Thanks for the details. Is there anything else I can help with?",
    "es": "Gracias por los detalles. ¿Puedo ayudarte con algo más?",
    "de": "Danke für die Angaben. Kann ich sonst noch helfen?",
    "fr": "Merci pour ces précisions. Puis-je vous aider pour autre chose ?",
    "pt": "Obrigado pelos detalhes. Posso ajudar em mais alguma coisa?",
    "ja": "詳細をありがとうございます。他にお手伝いできることはありますか？",
}
