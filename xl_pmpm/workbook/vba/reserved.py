"""VBA's reserved identifiers (MS-VBAL 3.3.5.2): no procedure, parameter or variable may
take one of these names. A module that does fails to compile, and in VBA a module that
does not compile breaks every procedure in it (each ``=PMPM_...`` cell shows an error).
"""

from __future__ import annotations

import re

STATEMENT_KEYWORDS = (
    "Call Case Close Const Declare DefBool DefByte DefCur DefDate DefDbl DefInt DefLng "
    "DefLngLng DefLngPtr DefObj DefSng DefStr DefVar Dim Do Else ElseIf End EndIf Enum Erase "
    "Event Exit For Friend Function Get Global GoSub GoTo If Implements Input Let Lock Loop "
    "LSet Next On Open Option Print Private Public Put RaiseEvent ReDim Resume Return RSet "
    "Seek Select Set Static Stop Sub Type Unlock Wend While With Write"
)
MARKER_KEYWORDS = (
    "Any As ByRef ByVal Case Each Else In New Shared Until WithEvents Write Optional "
    "ParamArray Preserve Spc Tab Then To"
)
OPERATOR_IDENTIFIERS = "AddressOf And Eqv Imp Is Like New Mod Not Or TypeOf Xor"
RESERVED_NAMES = (
    "Abs CBool CByte CCur CDate CDbl CDec CInt CLng CLngLng CLngPtr CSng CStr CVar CVErr "
    "Date Debug DoEvents Fix Int Len LenB Me PSet Scale Sgn String"
)
SPECIAL_FORMS = "Array Circle Input InputB LBound Scale UBound"
RESERVED_TYPES = (
    "Boolean Byte Currency Date Double Integer Long LongLong LongPtr Single String Variant"
)
LITERALS = "True False Nothing Empty Null"
# Reserved for implementation use and for future use.
OTHER = (
    "Attribute LINEINPUT VB_Base VB_Control VB_Creatable VB_Customizable VB_Description "
    "VB_Exposed VB_Ext_KEY VB_GlobalNameSpace VB_HelpID VB_Invoke_Func VB_Invoke_Property "
    "VB_Invoke_PropertyPut VB_Invoke_PropertyPutRef VB_MemberFlags VB_Name VB_PredeclaredId "
    "VB_ProcData VB_TemplateDerived VB_UserMemId VB_VarDescription VB_VarHelpID "
    "VB_VarMemberFlags VB_VarProcData VB_VarUserMemId CDecl Decimal DefDec Rem"
)

RESERVED_IDENTIFIERS: frozenset[str] = frozenset(
    word.casefold()
    for group in (
        STATEMENT_KEYWORDS,
        MARKER_KEYWORDS,
        OPERATOR_IDENTIFIERS,
        RESERVED_NAMES,
        SPECIAL_FORMS,
        RESERVED_TYPES,
        LITERALS,
        OTHER,
    )
    for word in group.split()
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")


def is_reserved(name: str) -> bool:
    """Whether `name` is one of VBA's reserved identifiers (VBA ignores case)."""
    return name.casefold() in RESERVED_IDENTIFIERS


def check_identifier(name: str, what: str) -> str:
    """`name` if VBA takes it as a name; a ValueError naming `what` otherwise."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not a VBA identifier (a letter, then letters, digits or _)"
        )
    if is_reserved(name):
        raise ValueError(
            f"{what} {name!r} is a reserved word in VBA (MS-VBAL 3.3.5.2): the module would "
            "not compile and every cell function in it would fail. Rename it."
        )
    return name
