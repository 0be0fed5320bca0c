"""Chinese folding rules of the exact-cache key: what does not change the request goes.

``fold_chinese`` runs them on simplified text (``core.understanding.normalize`` converts
traditional characters first): fillers, the robot's name, a greeting before a request,
politeness, urgency adverbs, a leading subject 你, whom it is done for (给大家), a duration or
"show me" tail (一会儿, 给我看), light verbs and classifiers (来个, 跳支舞), and verb
reduplication (扭扭屁股 = 扭屁股, 扭一扭 = 扭).
"""
import re

ZH_NAMES = ('克劳迪娅', '克劳迪亚', '克劳蒂亚')
ZH_GREETINGS = ('你好', '您好', '你们好', '大家好', '早上好', '早安', '晚上好', '下午好', '嗨',
                '哈喽', '哈啰')
ZH_FILLERS = re.compile(r'^(?:嗯|呃|额|啊|那个(?=\s))+\s*')
ZH_POLITE_HEAD = re.compile(r'^(?:请(?![求假客教])|麻烦你|麻烦|帮我|给我)')
# Urgency adverbs and a leading subject 你 (快坐下, 你坐下) do not change the action; 你好 and
# 你们 stay.
ZH_URGENCY_HEAD = re.compile(r'^(?:快点儿?|快|赶快|赶紧|马上|立刻|立即|立马|现在|你(?![好们]))'
                             r'(?=\S\S)')
# Whom it is done for or with (给主人表演 = 表演): does not change the action.
ZH_BENEFICIARY = re.compile(r'^(?:给|为|跟|向|和)(?:我们|大家|主人|客人|爸爸|妈妈|爷爷|奶奶|'
                            r'宝宝|孩子们?|小朋友们?|朋友们?|他们|她们|大伙儿?|各位|我)'
                            r'(?:看看?)?(?=\S)')
ZH_POLITE_TAIL = re.compile(r'(?:一下儿?|好吗|好不好|吧|啊|呀|哦|嘛|啦|哈)+$')
# A duration, "for me to see" or "together" after the verb (坐一会儿, 跳舞给我看).
ZH_ASIDE_TAIL = re.compile(r'(?<=\S)(?:一会儿?|一小会儿?|会儿|片刻|给我看看?|给大家看看?|'
                           r'看看|一起)$')
ZH_LIGHT_VERB = re.compile(r'^(?:(?:做|来|整)(?:一)?个|来(?![回了])(?=\S\S))')
# 做个最可爱的动作 asks for what 可爱 does (as 可愛い動作 in Japanese): a degree word and a
# final 的动作/的样子 go.
ZH_LIGHT_NOUN = re.compile(r'^(?:最|超|特别|非常|更)?(\S+?)的(?:动作|样子|姿势|表情)$')
ZH_CLASSIFIER = re.compile(r'(?<=[^\s\d一二两三四五六七八九十几这那每哪多])一?(?:个|支|段)(?=\S)')
# A one-character verb said twice (扭扭屁股) or around 一 (扭一扭) is that verb.
ZH_REDUPLICATION = re.compile(r'^(\S)(?:一)?\1(?=\S)|^(\S)一\2$')


def fold_chinese(text: str) -> str:
    """Drop Chinese fillers, politeness, the robot's name and a greeting before a request.

    Fillers are 嗯, 那个; politeness is 请, 吧, 一下, 好吗; a leading urgency adverb (快,
    赶紧, 马上), a leading subject 你 and a beneficiary (给主人, 跟大家, 跟我) go too, as do a
    duration or "show me" tail (坐一会儿, 跳舞给我看). A light verb before a classifier or a
    verb (做个, 来个, 来跳舞), the classifier between a verb and its object (跳个舞, 跳支舞 =
    跳舞) and a reduplicated one-character verb (扭扭屁股, 扭一扭) are folded. Expects
    simplified characters.

    >>> fold_chinese('请坐下吧'), fold_chinese('你好 坐下'), fold_chinese('伸个懒腰')
    ('坐下', '坐下', '伸懒腰')
    >>> fold_chinese('做个爱心'), fold_chinese('三个'), fold_chinese('你好')
    ('爱心', '三个', '你好')
    >>> fold_chinese('给大家表演个节目'), fold_chinese('跟小朋友们打招呼')
    ('表演节目', '打招呼')
    >>> fold_chinese('做个最帅的动作'), fold_chinese('可爱的样子')
    ('帅', '可爱')
    >>> fold_chinese('快坐下'), fold_chinese('你坐下'), fold_chinese('早上好呀')
    ('坐下', '坐下', '早上好')
    >>> fold_chinese('坐一会儿'), fold_chinese('来跳支舞给我看'), fold_chinese('扭扭屁股吧')
    ('坐', '跳舞', '扭屁股')
    >>> fold_chinese('扭一扭'), fold_chinese('谢谢'), fold_chinese('快'), fold_chinese('来回走')
    ('扭', '谢谢', '快', '来回走')
    """
    text = text.strip()
    previous = None
    while text != previous:
        previous = text
        text = ZH_FILLERS.sub('', text) or text
        for name in ZH_NAMES:
            if text.startswith(name) and len(text) > len(name):
                text = text[len(name):].lstrip()
            if text.endswith(name) and len(text) > len(name):
                text = text[:-len(name)].rstrip()
        for greeting in ZH_GREETINGS:
            rest = ZH_POLITE_TAIL.sub('', text[len(greeting):]).strip()
            if text.startswith(greeting) and rest:
                text = text[len(greeting):].lstrip()
        text = ZH_POLITE_HEAD.sub('', text).lstrip() or text
        text = ZH_URGENCY_HEAD.sub('', text).lstrip() or text
        text = ZH_BENEFICIARY.sub('', text).lstrip() or text
        text = ZH_POLITE_TAIL.sub('', text).rstrip() or text
        text = ZH_ASIDE_TAIL.sub('', text).rstrip() or text
        text = ZH_LIGHT_VERB.sub('', text) or text
    text = ZH_LIGHT_NOUN.sub(r'\1', text)
    text = ZH_CLASSIFIER.sub('', text)
    return ZH_REDUPLICATION.sub(lambda m: m.group(1) or m.group(2), text)
