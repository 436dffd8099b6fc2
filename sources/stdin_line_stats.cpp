#include <iostream>
#include <sstream>
#include <string>

// Reads lines with std::getline and, for each, prints its number, how
// many words and how many characters it has; then the totals.
int main() {
    std::string line;
    int lines = 0, words = 0, chars = 0;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string w;
        int n = 0;
        while (in >> w) n++;
        lines++;
        words += n;
        chars += static_cast<int>(line.size());
        std::cout << "line " << lines << ": " << n << " words, " << line.size() << " chars\n";
    }
    std::cout << "total: " << lines << " lines, " << words << " words, " << chars << " chars\n";
    return 0;
}
