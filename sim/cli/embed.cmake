# embed.cmake -- a file as a C array: cmake -DIN=FILE -DOUT=HEADER -DNAME=SYMBOL -P embed.cmake
# writes `static const unsigned char SYMBOL[] = {...bytes..., 0};` (NUL-terminated).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" hex "${hex}")
file(WRITE "${OUT}.tmp" "/* generated from ${IN} by embed.cmake: do not edit */\n"
     "static const unsigned char ${NAME}[] = {\n${hex}0x00};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
